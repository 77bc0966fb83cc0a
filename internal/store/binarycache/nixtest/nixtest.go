// Package nixtest runs Nix 2.8 (Debian nix-bin) against chroot stores
// for the acceptance tests of binarycache and cacheserver. It is
// imported only by _test.go files.
package nixtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need skips the test, loudly, unless nix, root (for chroot stores) and
// /bin/busybox (the builder of BuildClosure) are available; with
// CI=true it fails instead.
func Need(t *testing.T) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format+" (CI=true)", args...)
		}
		t.Skipf("SKIPPING acceptance test against Nix 2.8: "+format, args...)
	}
	for _, tool := range []string{"nix", "nix-store", "nix-build"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail("%s not installed (apt-get install -y nix-bin)", tool)
		}
	}
	if os.Geteuid() != 0 {
		fail("Nix chroot stores need root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		fail("/bin/busybox missing (apt-get install -y busybox-static)")
	}
}

// Root returns a fresh directory for a chroot store, with a short path
// (Nix binds sockets below it), removed after the test.
func Root(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "nt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", d).Run(); os.RemoveAll(d) })
	return d
}

// Run runs a Nix tool on the chroot store at root with stdin, no
// substituters (unless args set them later) and a narinfo disk cache of
// its own. It returns stdout, or stdout and stderr with the error.
func Run(root, stdin string, args ...string) (string, error) {
	cmd := exec.Command(args[0], append([]string{"--option", "substituters", ""}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+root,
		"NIX_CONFIG=experimental-features = nix-command", "XDG_CACHE_HOME="+filepath.Join(root, "xdg-cache"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// Must is Run without stdin that fails the test on error.
func Must(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := Run(root, "", args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// BuildClosure builds, with Nix in the chroot store at root, an
// input-addressed output (so signatures matter) that refers to a text
// file and to a directory holding busybox (a NAR of a megabyte or two):
// a closure of three paths. It returns the output path.
func BuildClosure(t *testing.T, root string) string {
	t.Helper()
	src := filepath.Join(root, "src")
	os.MkdirAll(filepath.Join(src, "bb"), 0o755)
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "bb", "busybox"), data, 0o755)
	os.Symlink("busybox", filepath.Join(src, "bb", "sh"))
	expr := `let bb = builtins.path { path = ` + src + `/bb; name = "bb"; };
    t = builtins.toFile "t" "hello";
in derivation { name = "out"; system = builtins.currentSystem; builder = "${bb}/busybox";
  args = ["sh" "-c" "echo ${t} ${bb} > $out"]; }`
	os.WriteFile(filepath.Join(src, "e.nix"), []byte(expr), 0o644)
	return strings.TrimSpace(Must(t, root, "nix-build", "--no-out-link", filepath.Join(src, "e.nix")))
}

// Verify runs nix-store --verify --check-contents on the store at root
// and fails the test on any complaint.
func Verify(t *testing.T, root string) {
	t.Helper()
	out, err := Run(root, "", "nix-store", "--verify", "--check-contents")
	if err != nil || strings.Contains(out, "error") || strings.Contains(out, "warning") {
		t.Fatalf("nix-store --verify --check-contents: %v\n%s", err, out)
	}
}
