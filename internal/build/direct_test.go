package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store/local"
)

func TestNoSandbox(t *testing.T) {
	needBusybox(t)
	tmp := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveAll(tmp) }) // read-only store directories
	// Without a sandbox the store must be where its paths say it is.
	st, err := local.Open(context.Background(), local.Options{
		StoreDir: storepath.Dir(filepath.Join(tmp, "store")), StateDir: filepath.Join(tmp, "state"), ReservedSize: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := setupEnv(t, st, "", Config{NoSandbox: true, Cores: 2})
	p := e.drv(drvSpec{name: "direct", script: `mkdir $out; echo "$NIX_BUILD_TOP $TMPDIR $PWD $HOME $NIX_STORE" > $out/vars; pwd > $out/pwd`})
	res, err := e.build(p, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	vars := strings.Fields(e.outFile(res, "out", "vars"))
	top := vars[0]
	if !strings.HasPrefix(top, filepath.Join(e.cfg.TmpDir, "nix-build-direct.drv-")) || vars[1] != top || vars[2] != top ||
		vars[3] != HomeDir || vars[4] != string(st.Dir()) {
		t.Errorf("vars %q", vars)
	}
	if got := strings.TrimSpace(e.outFile(res, "out", "pwd")); got != top {
		t.Errorf("pwd %q, want %q", got, top)
	}
	// The build directory was emptied and pooled; Close removes it.
	if ents, err := os.ReadDir(top); err != nil || len(ents) != 0 {
		t.Errorf("pooled build dir: %v %v", ents, err)
	}
	e.b.Close()
	if _, err := os.Stat(top); !os.IsNotExist(err) {
		t.Errorf("build dir left: %v", err)
	}
	// A failed direct build leaves nothing in the store.
	bad := e.drv(drvSpec{name: "direct-bad", script: "mkdir $out; exit 1"})
	if _, err := e.build(bad, Options{}); err == nil {
		t.Fatal("failing build succeeded")
	}
	if _, err := os.Lstat(st.RealPath(e.request(bad).Outputs["out"].Path)); !os.IsNotExist(err) {
		t.Errorf("failed output left: %v", err)
	}
	// A store elsewhere cannot build without the sandbox.
	e2 := newEnv(t, Config{NoSandbox: true})
	if _, err := e2.build(e2.drv(drvSpec{name: "x", script: "true"}), Options{}); err == nil || !strings.Contains(err.Error(), "logical location") {
		t.Errorf("chroot store without sandbox: %v", err)
	}
}
