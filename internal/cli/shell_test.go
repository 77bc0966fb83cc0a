package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// TestShellFlags checks the parsing of shell, run, develop and
// print-dev-env through runF.
func TestShellFlags(t *testing.T) {
	f := &Factory{Prog: "cairn shell"}
	var sh *ShellOptions
	if err := newShellCmd(f, func(o *ShellOptions) error { sh = o; return nil })([]string{"-f", "pkgs", "hello", "-j", "2", "--store", "/s", "-c", "hello", "-g", "--store"}); err != nil {
		t.Fatal(err)
	}
	if sh.Inst.File != "pkgs" || !reflect.DeepEqual(sh.Inst.Args, []string{"hello"}) || !reflect.DeepEqual(sh.Command, []string{"hello", "-g", "--store"}) || sh.Build.MaxJobs != 2 {
		t.Errorf("shell options %+v", sh)
	}

	var ro *RunOptions
	if err := newRunCmd(f, func(o *RunOptions) error { ro = o; return nil })([]string{"-f", "pkgs", "hello", "x", "--", "-g", "a b"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ro.Inst.Args, []string{"hello"}) || !reflect.DeepEqual(ro.Args, []string{"x", "-g", "a b"}) {
		t.Errorf("run options %+v", ro)
	}
	if err := newRunCmd(f, func(o *RunOptions) error { ro = o; return nil })([]string{"-E", "e", "y"}); err != nil || len(ro.Inst.Args) != 0 || !reflect.DeepEqual(ro.Args, []string{"y"}) {
		t.Errorf("run -E: %+v %v", ro, err)
	}

	for _, bad := range []struct {
		name string
		cmd  func([]string) error
		args []string
	}{
		{"shell -c alone", newShellCmd(f, func(*ShellOptions) error { return nil }), []string{"x", "-c"}},
		{"run without installable", newRunCmd(f, func(*RunOptions) error { return nil }), []string{"--", "a"}},
		{"shell unknown flag", newShellCmd(f, func(*ShellOptions) error { return nil }), []string{"--bogus"}},
	} {
		var ue *usageError
		if err := bad.cmd(bad.args); !errors.As(err, &ue) {
			t.Errorf("%s: err %v, want a usage error", bad.name, err)
		}
	}
}

func TestDrvNameName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hello-1.0", "hello"}, {"git-lfs-3.1", "git-lfs"}, {"foo", "foo"}, {"a-b-c", "a-b-c"}, {"x-", "x-"}, {"python3.10-numpy-1.2", "python3.10-numpy"},
	} {
		if got := drvNameName(tt.in); got != tt.want {
			t.Errorf("drvNameName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellPath(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(t.Context(), local.Options{Root: dir, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := mustPath(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a")
	b := mustPath(t, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b")
	c := mustPath(t, "cccccccccccccccccccccccccccccccc-c")
	// a propagates c.
	sup := filepath.Join(st.RealStoreDir(), a.String(), "nix-support")
	if err := os.MkdirAll(sup, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sup, "propagated-user-env-packages"), []byte("/nix/store/"+c.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := shellPath(st, []storepath.Path{a, b, a}, "/usr/bin:/bin")
	if err != nil {
		t.Fatal(err)
	}
	want := "/nix/store/" + c.String() + "/bin:/nix/store/" + b.String() + "/bin:/nix/store/" + a.String() + "/bin:/usr/bin:/bin"
	if got != want {
		t.Errorf("shellPath\n got %s\nwant %s", got, want)
	}
}

func mustPath(t *testing.T, base string) storepath.Path {
	t.Helper()
	p, err := storepath.DefaultDir.Parse("/nix/store/" + base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
