package build

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// nixProbe prints what a build can see of its sandbox; the output is
// deterministic, so Nix 2.8 and cairn must produce the same NAR. The id
// maps are printed without their host ids: each tool takes whichever
// build user is free (nixbld1, or the next while another build holds
// it), so those differ when other Nix builds run at the same time.
const nixProbe = `mkdir $out
env | sort > $out/env
id > $out/id
hostname > $out/host
ls / > $out/root
ls /dev > $out/dev
cat /etc/passwd /etc/group /etc/hosts > $out/etc
for m in uid_map gid_map; do while read inside host n; do echo $m $inside $n; done < /proc/self/$m; done > $out/idmaps
cat /proc/self/setgroups >> $out/idmaps
stat -c '%A %U %G %n' / /build /nix /nix/store /dev /dev/pts /dev/shm /etc /tmp /proc > $out/modes
stat -c '%A %U %G %t:%T %n' /dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero >> $out/modes
cat /proc/net/dev | tail -n +3 | cut -d: -f1 > $out/net
cat /proc/sys/kernel/domainname > $out/domain
ls -a /build > $out/build
touch /build/f; chmod 4755 /build/f 2> $out/suid || true
echo $$ > $out/pid
test -t 1 && echo tty > $out/tty
test -t 0 || echo stdin not a tty > $out/stdin
ln -s $out/env $out/self-link
echo probe-log-line`

// TestDifferentialNix builds the same derivation with Nix 2.8 (nix-build
// in a chroot store) and with cairn, and compares the output NAR hashes.
func TestDifferentialNix(t *testing.T) {
	needSandbox(t)
	if _, err := exec.LookPath("nix-build"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-build is missing (apt-get install -y nix-bin)")
		}
		t.Skip("SKIPPING: nix-build is missing (apt-get install -y nix-bin)")
	}
	tmp := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveAll(tmp) }) // read-only store directories
	// The build user must be able to reach the store.
	for d := tmp; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bbDir := filepath.Join(tmp, "bb")
	os.MkdirAll(bbDir+"/bin", 0o755)
	data, _ := os.ReadFile(hostBusybox)
	os.WriteFile(bbDir+"/bin/busybox", data, 0o755)
	for _, a := range applets {
		os.Symlink("busybox", bbDir+"/bin/"+a)
	}
	nixRoot := filepath.Join(tmp, "nixroot")
	nixIn := func(t *testing.T, storeRoot string, args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+storeRoot)
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	nix := func(t *testing.T, args ...string) string { t.Helper(); return nixIn(t, nixRoot, args...) }
	bb := nix(t, "nix-store", "--add", bbDir)
	// The same derivations in our store.
	root := filepath.Join(tmp, "ours")
	st, err := local.Open(context.Background(), local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bbInfo, err := st.AddPath(context.Background(), bbDir, local.AddOptions{Name: "bb", Method: storepath.Recursive})
	if err != nil || st.Dir().Print(bbInfo.Path) != bb {
		t.Fatalf("busybox at %v (%v), Nix has %s", bbInfo, err, bb)
	}
	cfg := Config{Cores: 1, TmpDir: filepath.Join(tmp, "builds")}
	os.Mkdir(cfg.TmpDir, 0o755)
	if os.Geteuid() == 0 {
		// Nix 2.8 as root builds as nixbld1 of group nixbld.
		u, err1 := user.Lookup("nixbld1")
		g, err2 := user.LookupGroup("nixbld")
		if err1 != nil || err2 != nil {
			t.Skipf("SKIPPING: no nixbld1 user or nixbld group to build as (%v %v)", err1, err2)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(g.Gid)
		cfg.BuildUser = &BuildUser{UID: uid, GID: gid}
	}
	builder := New(st, cfg)

	bbNix := `builtins.storePath "` + bb + `"`
	for _, c := range []struct{ name, expr string }{
		{"probe", `derivation {
  name = "probe"; system = "x86_64-linux";
  builder = "${` + bbNix + `}/bin/sh";
  PATH = "` + bb + `/bin";
  args = ["-c" ''` + strings.ReplaceAll(nixProbe, "${", "''${") + `''];
}`},
		// Structured attributes and both forms of exportReferencesGraph.
		// (Not the environment: 2.8 sets NIX_ATTRS_*_FILE to host paths
		// that do not exist in the sandbox; cairn uses /build.)
		{"structured", `derivation {
  name = "structured"; system = "x86_64-linux"; __structuredAttrs = true;
  builder = "${` + bbNix + `}/bin/sh";
  args = ["-c" "export PATH=` + bb + `/bin; out=$(sed -n \"s/^declare -A outputs=(\\['out'\\]='\\([^']*\\)' )$/\\1/p\" /build/.attrs.sh); mkdir $out; cp /build/.attrs.json $out/json; cp /build/.attrs.sh $out/sh; echo probe-log-line"];
  exportReferencesGraph.closure = [ (` + bbNix + `) ];
  list = [ 1 "two" true null 1.5 ]; attrs = { a = "x'y"; b = 2; }; nested = { l = [ [ 1 ] ]; };
  outputChecks.out.maxSize = 1000000;
}`},
		{"export-plain", `derivation {
  name = "export-plain"; system = "x86_64-linux";
  builder = "${` + bbNix + `}/bin/sh";
  args = ["-c" "${` + bbNix + `}/bin/cp /build/graph $out; echo probe-log-line"];
  exportReferencesGraph = [ "graph" (` + bbNix + `) ];
}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(tmp, c.name+".nix"), []byte(c.expr), 0o644)
			drvPrinted := nix(t, "nix-instantiate", filepath.Join(tmp, c.name+".nix"))
			outPrinted := nix(t, "nix-build", "--option", "substituters", "", "--cores", "1", "--no-out-link", drvPrinted)
			nixHash, err := nixhash.Parse(nix(t, "nix-store", "-q", "--hash", outPrinted))
			if err != nil {
				t.Fatal(err)
			}
			drvData, err := os.ReadFile(filepath.Join(nixRoot, drvPrinted))
			if err != nil {
				t.Fatal(err)
			}
			drv, err := derivation.Parse(drvData)
			if err != nil {
				t.Fatal(err)
			}
			drvInfo, err := st.AddText(context.Background(), c.name+".drv", drvData, []storepath.Path{bbInfo.Path})
			if err != nil || st.Dir().Print(drvInfo.Path) != drvPrinted {
				t.Fatalf("drv at %v (%v), Nix has %s", drvInfo, err, drvPrinted)
			}
			req, err := FromDerivation(st.Dir(), drvInfo.Path, drv, func(storepath.Path) (*derivation.Derivation, error) { return nil, os.ErrNotExist })
			if err != nil {
				t.Fatal(err)
			}
			res, err := builder.Build(context.Background(), req, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Outputs["out"].NarHash; !got.Equal(nixHash) {
				ours := st.RealPath(res.Outputs["out"].Path)
				theirs := filepath.Join(nixRoot, outPrinted)
				diff, _ := exec.Command("diff", "-r", theirs, ours).CombinedOutput()
				t.Errorf("NAR hash %s, Nix 2.8 built %s; diff -r nix cairn:\n%s", got, nixHash, diff)
			}
			// Nix 2.8 reads what we registered and the log we stored.
			if got := nixIn(t, root, "nix-store", "-q", "--hash", outPrinted); got != nixHash.Encode(nixhash.Nix32, true) {
				t.Errorf("nix-store -q --hash on our store: %s", got)
			}
			if got := nixIn(t, root, "nix-store", "--read-log", drvPrinted); got != "probe-log-line" {
				t.Errorf("nix-store --read-log on our store: %q", got)
			}
			if got := nixIn(t, root, "nix-store", "-q", "--deriver", outPrinted); got != drvPrinted {
				t.Errorf("deriver %q", got)
			}
			if got, want := res.Outputs["out"].References, store.SortPaths([]storepath.Path{bbInfo.Path, res.Outputs["out"].Path}); c.name == "probe" && !slices.Equal(got, want) {
				t.Errorf("references %v, want %v (as Nix 2.8)", got, want)
			}
		})
	}

	// Nix 2.8 and cairn build the same derivation in the same store at
	// the same time: the per-path locks make one of them build it and
	// the other find it valid.
	t.Run("concurrent-with-nix", func(t *testing.T) {
		expr := `derivation {
  name = "shared"; system = "x86_64-linux";
  builder = "${` + bbNix + `}/bin/sh";
  args = ["-c" "${` + bbNix + `}/bin/sleep 1; echo shared > $out"];
}`
		os.WriteFile(filepath.Join(tmp, "shared.nix"), []byte(expr), 0o644)
		drvPrinted := nix(t, "nix-instantiate", filepath.Join(tmp, "shared.nix"))
		shared, err := local.Open(context.Background(), local.Options{Root: nixRoot, ReservedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer shared.Close()
		drvPath, _ := shared.ParsePath(drvPrinted)
		drv, err := shared.ReadDerivation(context.Background(), drvPath)
		if err != nil {
			t.Fatal(err)
		}
		req, err := FromDerivation(shared.Dir(), drvPath, drv, func(p storepath.Path) (*derivation.Derivation, error) {
			return shared.ReadDerivation(context.Background(), p)
		})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("nix-build", "--option", "substituters", "", "--no-out-link", drvPrinted)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+nixRoot)
		var nixOut strings.Builder
		cmd.Stdout, cmd.Stderr = &nixOut, &nixOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		res, err := New(shared, cfg).Build(context.Background(), req, Options{})
		if werr := cmd.Wait(); werr != nil {
			t.Fatalf("nix-build: %v\n%s", werr, nixOut.String())
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cairn: %v; nix-build said:\n%s", res.Status, nixOut.String())
		built := strings.Contains(nixOut.String(), "building '"+drvPrinted+"'")
		if built == (res.Status == Built) {
			t.Errorf("nix built: %v, cairn: %v; want exactly one build", built, res.Status)
		}
	})
}
