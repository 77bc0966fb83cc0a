package profile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store/local"
	"golang.org/x/sys/unix"
)

// testStore opens a store whose logical and real store directories are
// both <tmp>/store (as with NIX_STORE_DIR), so links resolve on the host.
func testStore(t *testing.T) (*local.Store, string) {
	t.Helper()
	base := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveAll(base) })
	st, err := local.Open(context.Background(), local.Options{
		StoreDir: storepath.Dir(filepath.Join(base, "store")), StateDir: filepath.Join(base, "var"), ReservedSize: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, base
}

// addPkg adds a package directory named name with the given files
// ("path": "contents"; "->target" makes a symlink).
func addPkg(t *testing.T, st *local.Store, name string, files map[string]string) storepath.Path {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	os.MkdirAll(dir, 0o755)
	for f, c := range files {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	info, err := st.AddPath(context.Background(), dir, local.AddOptions{Name: name, Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	return info.Path
}

func touchLink(t *testing.T, link string, tm time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(tm.UnixNano()), unix.NsecToTimespec(tm.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		n    uint64
		ok   bool
	}{
		{"prof-1-link", 1, true},
		{"prof-42-link", 42, true},
		{"prof-42-linkage", 42, true}, // Nix looks for the first "-link" only
		{"prof-x-link", 0, false},
		{"prof--link", 0, false},
		{"prof-+1-link", 0, false},
		{"prof-4294967296-link", 0, false},
		{"prof", 0, false},
		{"other-1-link", 0, false},
		{"prof-1", 0, false},
	}
	for _, tt := range tests {
		n, ok := parseName("prof", tt.name)
		if n != tt.n || ok != tt.ok {
			t.Errorf("parseName(%q) = %d, %v; want %d, %v", tt.name, n, ok, tt.n, tt.ok)
		}
	}
}

func listGens(t *testing.T, profile string) string {
	t.Helper()
	gens, cur, err := Generations(profile)
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, g := range gens {
		s := fmt.Sprint(g.Number)
		if g.Number == cur {
			s += "*"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestGenerationsLifecycle(t *testing.T) {
	ctx := context.Background()
	st, base := testStore(t)
	profile := filepath.Join(base, "profiles", "p")
	a := addPkg(t, st, "a-1.0", map[string]string{"bin/a": "a"})
	b := addPkg(t, st, "b-2.0", map[string]string{"bin/b": "b"})
	c := addPkg(t, st, "c-3.0", map[string]string{"bin/c": "c"})
	if got := listGens(t, profile); got != "" {
		t.Fatalf("empty profile: %q", got)
	}
	for i, p := range []storepath.Path{a, b, b, c} {
		gen, err := CreateGeneration(ctx, st, profile, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := SwitchLink(profile, gen); err != nil {
			t.Fatal(err)
		}
		if i == 2 && gen != LinkName(profile, 2) {
			t.Errorf("same target twice made %s, want generation 2 again", gen)
		}
	}
	if got := listGens(t, profile); got != "1 2 3*" {
		t.Fatalf("generations = %q", got)
	}
	if tgt, _ := os.Readlink(profile); tgt != "p-3-link" {
		t.Errorf("profile link = %q, want relative p-3-link", tgt)
	}
	if tgt, _ := os.Readlink(LinkName(profile, 3)); tgt != st.Dir().Print(c) {
		t.Errorf("generation link = %q", tgt)
	}
	// Every generation is a GC root.
	roots, err := st.FindRoots(ctx, local.RootsOptions{NoRuntimeRoots: true, NoTempRoots: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []storepath.Path{a, b, c} {
		if len(roots[p]) == 0 {
			t.Errorf("%s is not a GC root: %v", p, roots)
		}
	}

	from, to, err := Switch(profile, 0, false) // rollback
	if err != nil || from != 3 || to != 2 {
		t.Fatalf("rollback: %d -> %d, %v", from, to, err)
	}
	from, to, _ = Switch(profile, 0, false)
	if from != 2 || to != 1 {
		t.Fatalf("second rollback: %d -> %d", from, to)
	}
	if _, _, err := Switch(profile, 0, false); !errors.Is(err, ErrNoGeneration) || err.Error() != "no profile version older than the current (1) exists" {
		t.Fatalf("rollback past the oldest: %v", err)
	}
	if _, _, err := Switch(profile, 7, false); err == nil || err.Error() != "profile version 7 does not exist" {
		t.Fatalf("switch to a missing generation: %v", err)
	}
	if _, to, err := Switch(profile, 3, true); err != nil || to != 3 || listGens(t, profile) != "1* 2 3" {
		t.Fatalf("dry run switched: %v %q", err, listGens(t, profile))
	}
	if _, to, err := Switch(profile, 3, false); err != nil || to != 3 {
		t.Fatal(err)
	}
	if _, err := DeleteGenerations(profile, []uint64{3}, false); !errors.Is(err, ErrCurrentGeneration) {
		t.Fatalf("deleting the current generation: %v", err)
	}
	del, err := DeleteGenerations(profile, []uint64{1, 9}, false)
	if err != nil || fmt.Sprint(del) != "[1]" || listGens(t, profile) != "2 3*" {
		t.Fatalf("delete 1: %v %v %q", del, err, listGens(t, profile))
	}
	// A new generation after a rollback continues the numbering.
	Switch(profile, 2, false)
	gen, err := CreateGeneration(ctx, st, profile, a)
	if err != nil || gen != LinkName(profile, 4) {
		t.Fatalf("after rollback: %s, %v", gen, err)
	}
	SwitchLink(profile, gen)
	del, err = DeleteOldGenerations(profile, true)
	if err != nil || fmt.Sprint(del) != "[2 3]" || listGens(t, profile) != "2 3 4*" {
		t.Fatalf("dry-run wipe: %v %v %q", del, err, listGens(t, profile))
	}
	del, err = DeleteOldGenerations(profile, false)
	if err != nil || fmt.Sprint(del) != "[2 3]" || listGens(t, profile) != "4*" {
		t.Fatalf("wipe: %v %v %q", del, err, listGens(t, profile))
	}
	if _, err := os.Lstat(profile + ".lock"); err == nil {
		t.Error("lock file left behind")
	}
}

func TestDeleteOlderThan(t *testing.T) {
	ctx := context.Background()
	st, base := testStore(t)
	profile := filepath.Join(base, "p")
	now := time.Now()
	ages := []int{40, 35, 31, 20, 1} // days, generations 1..5
	for i, age := range ages {
		p := addPkg(t, st, fmt.Sprintf("x-%d", i), map[string]string{"f": fmt.Sprint(i)})
		gen, err := CreateGeneration(ctx, st, profile, p)
		if err != nil {
			t.Fatal(err)
		}
		touchLink(t, gen, now.Add(-time.Duration(age)*24*time.Hour))
	}
	SwitchLink(profile, LinkName(profile, 2)) // an old generation is current
	cutoff, err := ParseOlderThan("30d", now)
	if err != nil {
		t.Fatal(err)
	}
	// Older than 30 days: 1, 2, 3. Generation 3 was current 30 days
	// ago and stays, 2 is current and stays, 1 goes.
	del, err := DeleteGenerationsOlderThan(profile, cutoff, false)
	if err != nil || fmt.Sprint(del) != "[1]" || listGens(t, profile) != "2* 3 4 5" {
		t.Fatalf("older than 30d: %v %v %q", del, err, listGens(t, profile))
	}
	for _, bad := range []string{"", "30", "0d", "-1d", "xd", "d"} {
		if _, err := ParseOlderThan(bad, now); err == nil {
			t.Errorf("ParseOlderThan(%q) succeeded", bad)
		}
	}
	if _, err := ParseOlderThan("30", now); err == nil || err.Error() != "invalid number of days specifier '30', expected something like '14d'" {
		t.Errorf("message: %v", err)
	}
}

func TestLockExcludes(t *testing.T) {
	ctx := context.Background()
	profile := filepath.Join(t.TempDir(), "p")
	l1, err := LockProfile(ctx, profile)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := LockProfile(ctx2, profile); err == nil {
		t.Fatal("second lock acquired while the first is held")
	}
	got := make(chan error)
	go func() {
		l2, err := LockProfile(ctx, profile)
		if err == nil {
			err = l2.Unlock()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
