package nar

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// needNix returns the path of a Nix 2.8 tool, skipping the test loudly if
// it is missing (and failing under CI=true).
func needNix(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		msg := fmt.Sprintf("SKIPPING differential test against Nix: %s not found (apt-get install nix-bin)", tool)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func nixEnv(t *testing.T) []string {
	return append(os.Environ(), "NIX_REMOTE=local?root="+t.TempDir(), "NIX_CONFIG=substituters =")
}

// randomTree creates a tree of files, executables, symlinks, empty
// directories and unicode names under root.
func randomTree(t *testing.T, rng *rand.Rand, root string, depth int) {
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "B", "b", "Z", "é", "ü-x", "日本語", "a b", "a.b", "-", ".hidden", "z\tz", "x\ny", "∂", "A", "aa", "a-"}
	n := rng.Intn(8)
	for i := 0; i < n; i++ {
		name := names[rng.Intn(len(names))] + fmt.Sprint(rng.Intn(3))
		p := filepath.Join(root, name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		switch k := rng.Intn(10); {
		case k < 4:
			data := make([]byte, rng.Intn(3000))
			rng.Read(data)
			mode := os.FileMode(0o644)
			if rng.Intn(3) == 0 {
				mode = 0o755
			}
			if rng.Intn(5) == 0 {
				mode = 0o744 // only the owner bit counts
			}
			if err := os.WriteFile(p, data, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		case k < 6:
			targets := []string{"a0", "../x", "/nix/store/foo", "é", "dangling/ü", strings.Repeat("t", 300)}
			if err := os.Symlink(targets[rng.Intn(len(targets))], p); err != nil {
				t.Fatal(err)
			}
		case k < 7:
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if depth < 4 {
				randomTree(t, rng, p, depth+1)
			}
		}
	}
}

// TestDumpMatchesNix compares DumpPath with `nix-store --dump` and our
// hash with `nix-hash --type sha256 --base32` on random trees, a big file,
// and single files and symlinks.
func TestDumpMatchesNix(t *testing.T) {
	nixStore := needNix(t, "nix-store")
	nixHash := needNix(t, "nix-hash")
	env := nixEnv(t)
	base := t.TempDir()
	var roots []string
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		p := filepath.Join(base, fmt.Sprintf("tree%d", i))
		randomTree(t, rng, p, 0)
		roots = append(roots, p)
	}
	big := filepath.Join(base, "big")
	data := make([]byte, 5<<20+3)
	rng.Read(data)
	if err := os.WriteFile(big, data, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink("big", link); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	roots = append(roots, big, link, empty)
	for _, root := range roots {
		t.Run(filepath.Base(root), func(t *testing.T) {
			cmd := exec.Command(nixStore, "--dump", root)
			cmd.Env = env
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("nix-store --dump: %v", err)
			}
			var got bytes.Buffer
			if err := DumpPath(&got, root); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d NAR bytes", got.Len())
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("DumpPath differs from nix-store --dump (%d vs %d bytes)", got.Len(), len(want))
			}
			cmd = exec.Command(nixHash, "--type", "sha256", "--base32", root)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("nix-hash: %v", err)
			}
			h := nixhash.NewHasher(nixhash.SHA256)
			if err := DumpPath(h, root); err != nil {
				t.Fatal(err)
			}
			if ours := h.Sum().Encode(nixhash.Nix32, false); ours != strings.TrimSpace(string(out)) {
				t.Errorf("hash %s, nix-hash %s", ours, out)
			}
			// Restoring Nix's bytes and dumping again is the identity.
			dst := filepath.Join(t.TempDir(), "r")
			if err := Restore(bytes.NewReader(want), dst); err != nil {
				t.Fatal(err)
			}
			got.Reset()
			if err := DumpPath(&got, dst); err != nil || !bytes.Equal(got.Bytes(), want) {
				t.Errorf("restore+dump differs: %v", err)
			}
		})
	}
}

// TestNix28Strictness feeds malformed NARs to `nix-store --restore` and to
// our reader, logging 2.8's verdict next to ours. We must reject each of
// them; where 2.8 rejects too, the test also checks that.
func TestNix28Strictness(t *testing.T) {
	nixStore := needNix(t, "nix-store")
	env := nixEnv(t)
	tests := []struct {
		name         string
		data         []byte
		nix28Rejects bool // per the design note's table, checked with 2.8
	}{
		{"non-zero padding", build(Magic, "(", "type", "regular", "contents", rawBytes{3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 1}, ")"), true},
		{"dotdot name", nar(dir(entry("..", file("x")...))), true},
		{"slash name", nar(dir(entry("a/b", file("x")...))), true},
		{"unsorted", nar(dir(entry("b", file("x")...), entry("a", file("y")...))), false},
		{"duplicate", nar(dir(entry("a", file("x")...), entry("a", file("y")...))), true},
		{"executable after contents", nar([]any{"(", "type", "regular", "contents", "x", "executable", "", ")"}), false},
		{"truncated", nar(file("hello"))[:50], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(nixStore, "--restore", dst)
			cmd.Env = env
			cmd.Stdin = bytes.NewReader(tt.data)
			out, nixErr := cmd.CombinedOutput()
			_, ourErr := list(t, tt.data)
			t.Logf("nix 2.8: %v %s; ours: %v", nixErr, bytes.TrimSpace(out), ourErr)
			if ourErr == nil {
				t.Errorf("we accept it")
			}
			if tt.nix28Rejects && nixErr == nil {
				t.Errorf("Nix 2.8 accepted it, contrary to the design note")
			}
		})
	}
}

// TestFilterMatchesNix checks DumpPathFilter against builtins.path with a
// filter: the store path Nix computes must equal the source path of our
// filtered NAR's hash.
func TestFilterMatchesNix(t *testing.T) {
	nixInst := needNix(t, "nix-instantiate")
	root := filepath.Join(t.TempDir(), "src")
	randomTree(t, rand.New(rand.NewSource(3)), root, 0)
	for _, p := range []string{"keep", "drop-a", "sub/keep", "sub/drop-b", "sub/deeper/x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(p), 0o644)
	}
	// Drop entries whose base name contains "a" and files named x.
	expr := `builtins.path { path = ` + root + `; name = "filtered"; filter = p: t: builtins.match ".*/[^/]*a[^/]*" p == null && !(t == "regular" && baseNameOf p == "x"); }`
	cmd := exec.Command(nixInst, "--eval", "-E", expr)
	cmd.Env = nixEnv(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	var seen []string
	h := nixhash.NewHasher(nixhash.SHA256)
	err = DumpPathFilter(h, root, func(p string, fi fs.FileInfo) (bool, error) {
		if !strings.HasPrefix(p, root+"/") {
			t.Errorf("filter got %q, not below %q", p, root)
		}
		seen = append(seen, p)
		return !strings.Contains(filepath.Base(p), "a") && !(fi.Mode().IsRegular() && filepath.Base(p) == "x"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := storepath.DefaultDir.MakeFixedOutputPath("filtered", storepath.Recursive, h.Sum(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Trim(strings.TrimSpace(string(out)), `"`); storepath.DefaultDir.Print(sp) != want {
		t.Errorf("filtered path %s, Nix %s (filter saw %d entries)", storepath.DefaultDir.Print(sp), want, len(seen))
	}
}
