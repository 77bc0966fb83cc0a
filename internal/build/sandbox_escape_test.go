package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/storepath"
)

// needSandboxOrCI is needSandbox, except that with CI=true a machine
// whose kernel has user namespaces enabled must be able to sandbox.
func needSandboxOrCI(t *testing.T) {
	t.Helper()
	needBusybox(t)
	err := sandbox.Check(context.Background(), t.TempDir())
	if err == nil {
		return
	}
	b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces")
	if os.Getenv("CI") == "true" && len(b) > 0 && strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("the sandbox is unavailable although user namespaces are enabled (CI=true): %v", err)
	}
	if !errors.Is(err, sandbox.ErrUnavailable) {
		t.Fatalf("sandbox check: %v", err)
	}
	t.Skipf("SKIPPING: this host cannot create build sandboxes, escape tests not run: %v", err)
}

// TestSandboxEscapes runs a builder that tries to get out of the sandbox
// in the ways TestSandboxEnvironmentAndIsolation (host loopback, setuid
// in /build) does not cover: reading a store path outside its closure
// and host files, writing into the store directly (logical and real
// locations, and into an input), setuid/setgid bits on its output, and
// processes left running after it exits. Each attempt must fail or stay
// inside, and nothing may leak into the result or the store.
func TestSandboxEscapes(t *testing.T) {
	needSandboxOrCI(t)
	e := newEnv(t, Config{})
	ctx := context.Background()
	secret, err := e.st.AddText(ctx, "secret", []byte("s3cret-contents\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	hostSecret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(hostSecret, []byte("s3cret-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secretLogical := e.st.Dir().Print(secret.Path)
	realStore := e.st.RealStoreDir()
	bb := e.st.Dir().Print(e.bb)
	// A unique argument marks the left-behind process in /proc.
	const marker = "9876.54321"
	p := e.drv(drvSpec{name: "escape", script: `
mkdir $out
# Reading outside the closure.
for f in ` + secretLogical + ` ` + realStore + `/` + secret.Path.Base() + ` ` + hostSecret + ` /proc/1/root` + hostSecret + ` /etc/shadow; do
  cat $f >> $out/read 2>/dev/null && echo "read $f" >> $out/read || echo "denied $f" >> $out/read
done
ls /nix/store | sort | tr '\n' ' ' > $out/store
# Writing into the store directly.
for f in /nix/store/evil ` + realStore + `/evil ` + bb + `/bin/evil ` + bb + `/bin/busybox; do
  (echo evil >> $f) 2>/dev/null && echo "wrote $f" >> $out/write || echo "denied $f" >> $out/write
done
chmod u+w ` + bb + ` 2>/dev/null && echo "chmod input" >> $out/write || echo "denied chmod input" >> $out/write
# Network: only loopback exists.
busybox tail -n +3 /proc/net/dev | busybox cut -d: -f1 | tr -d ' ' > $out/ifaces
# setuid/setgid bits on the output.
echo x > $out/suid; chmod 4755 $out/suid 2>/dev/null; chmod 2755 $out/suid 2>/dev/null
mkdir $out/sgid; chmod 2755 $out/sgid 2>/dev/null
# Processes left behind: one that would write into the output later, one
# in a new session that would stay around.
(sleep 1; echo late > $out/late) &
busybox setsid sleep ` + marker + ` &
echo done
`})
	res, err := e.build(p, Options{})
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, e.logs)
	}
	// No process of the build survives it.
	if pids := procsWithArg(marker); len(pids) > 0 {
		t.Errorf("builder processes left running after the build: %v", pids)
	}
	read := e.outFile(res, "out", "read")
	for _, f := range []string{secretLogical, realStore + "/" + secret.Path.Base(), hostSecret, "/proc/1/root" + hostSecret, "/etc/shadow"} {
		if !strings.Contains(read, "denied "+f+"\n") {
			t.Errorf("builder could read %s:\n%s", f, read)
		}
	}
	if got, want := e.outFile(res, "out", "store"), strings.Join(sortedBases(e, res), " ")+" "; got != want {
		t.Errorf("/nix/store in the sandbox lists %q, want the closure and output %q", got, want)
	}
	// The sandbox's own /nix/store is writable (as in Nix, so that the
	// output can be created) but is not the store: what is written there
	// must not reach the real store (checked below).
	write := strings.Replace(e.outFile(res, "out", "write"), "wrote /nix/store/evil\n", "", 1)
	if strings.Contains(write, "wrote") || strings.Contains("\n"+write, "\nchmod input") {
		t.Errorf("builder wrote into the store:\n%s", write)
	}
	if got := e.outFile(res, "out", "ifaces"); got != "lo\n" {
		t.Errorf("network interfaces in the sandbox: %q, want only lo", got)
	}
	if _, err := os.Lstat(filepath.Join(realStore, "evil")); !os.IsNotExist(err) {
		t.Errorf("the builder created %s/evil: %v", realStore, err)
	}
	for _, name := range []string{"suid", "sgid"} {
		fi, err := os.Lstat(filepath.Join(e.st.RealPath(res.Outputs["out"].Path), name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			t.Errorf("output %s has mode %v: setuid/setgid bits leaked into the store", name, fi.Mode())
		}
	}
	// The late writer would have written by now; the output, the input
	// and every other path still match the database.
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Lstat(filepath.Join(e.st.RealPath(res.Outputs["out"].Path), "late")); !os.IsNotExist(err) {
		t.Errorf("a process left behind wrote into the output: %v", err)
	}
	if v, err := e.st.Verify(ctx, verifyAll()); err != nil || !v.OK() {
		t.Errorf("verify after the build: %+v %v", v, err)
	}
	for _, f := range []string{"read", "store", "write"} {
		if s := e.outFile(res, "out", f); strings.Contains(s, "s3cret") {
			t.Errorf("secret leaked into the output %s:\n%s", f, s)
		}
	}
}

// sortedBases are the store entries the sandbox should show: the
// derivation's input closure (busybox) and its output.
func sortedBases(e *env, res *Result) []string {
	b := []string{e.bb.Base(), res.Outputs["out"].Path.Base()}
	if b[0] > b[1] {
		b[0], b[1] = b[1], b[0]
	}
	return b
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

// TestReusedDirectoriesCarryNothing: what a builder leaves in its /tmp,
// its store directory or its build directory does not reach the next
// build, which may reuse (dirPool) the sandbox root and build directory.
func TestReusedDirectoriesCarryNothing(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	for i, leave := range []string{
		"touch /nix/store/leak-store; mkdir /nix/store/leak-dir; touch /nix/store/leak-dir/f; touch /build/leak-build",
		"touch /tmp/leak-tmp; touch /nix/store/leak-store",
		"touch /build/leak-build; mkdir -p /build/d/e",
	} {
		a := e.drv(drvSpec{name: "leaver-" + strconv.Itoa(i), script: leave + "; echo > $out"})
		if _, err := e.build(a, Options{}); err != nil {
			t.Fatalf("leaver %d: %v\n%s", i, err, e.logs)
		}
		b := e.drv(drvSpec{name: "looker-" + strconv.Itoa(i), script: "ls -a /nix/store > /build/store; ls -a /tmp > /build/tmp; ls -a /build > /build/build; ls -ld /tmp /nix/store /build | cut -c1-10 > /build/modes; mkdir $out; mv /build/store /build/tmp /build/build /build/modes $out"})
		res, err := e.build(b, Options{})
		if err != nil {
			t.Fatalf("looker %d: %v\n%s", i, err, e.logs)
		}
		if got, want := e.outFile(res, "out", "store"), ".\n..\n"+e.bb.Base()+"\n"; got != want {
			t.Errorf("round %d: /nix/store of the next build:\n%s\nwant:\n%s", i, got, want)
		}
		if got := e.outFile(res, "out", "tmp"); got != ".\n..\n" {
			t.Errorf("round %d: /tmp of the next build: %q", i, got)
		}
		if got := e.outFile(res, "out", "build"); got != ".\n..\nbuild\nstore\ntmp\n" {
			t.Errorf("round %d: /build of the next build: %q", i, got)
		}
		if got := e.outFile(res, "out", "modes"); got != "drwx------\ndrwxrwxr-t\ndrwxrwxrwt\n" {
			t.Errorf("round %d: modes %q", i, got)
		}
	}
}

// TestFileInputsAsBuildUser: as root, with a build user, file inputs are
// hard-linked into the sandbox (as Nix does) rather than bind-mounted:
// the builder sees them but can neither change, nor move, nor remove
// them, and the store still verifies afterwards.
func TestFileInputsAsBuildUser(t *testing.T) {
	needSandboxOrCI(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: needs root to build as a build user")
	}
	e, _ := buildUserEnv(t, 61732, 61732) // a uid nothing else runs as
	ctx := context.Background()
	in, err := e.st.AddText(ctx, "input-file", []byte("input-data\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := e.st.Dir().Print(in.Path)
	p := e.drv(drvSpec{name: "file-input", srcs: []storepath.Path{in.Path}, script: `
mkdir $out
cat ` + f + ` > $out/read
try() { "$@" 2>/dev/null && echo "did $*" >> $out/tries || echo "denied $1" >> $out/tries; }
try sh -c 'echo evil >> ` + f + `'
try chmod 666 ` + f + `
try rm -f ` + f + `
try mv ` + f + ` ` + f + `.moved
busybox grep -c ' ` + f + ` ' /proc/self/mountinfo > $out/mounts || true
`})
	res, err := e.build(p, Options{})
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, e.logs)
	}
	if got := e.outFile(res, "out", "read"); got != "input-data\n" {
		t.Errorf("the builder read %q", got)
	}
	if got, want := e.outFile(res, "out", "tries"), "denied sh\ndenied chmod\ndenied rm\ndenied mv\n"; got != want {
		t.Errorf("the builder's attempts on its input:\n%s\nwant:\n%s", got, want)
	}
	if got := e.outFile(res, "out", "mounts"); got != "0\n" {
		t.Errorf("the file input is a mount point in the sandbox (%q mounts): not linked", got)
	}
	if data, err := os.ReadFile(e.st.RealPath(in.Path)); err != nil || string(data) != "input-data\n" {
		t.Errorf("the input afterwards: %q, %v", data, err)
	}
	if v, err := e.st.Verify(ctx, verifyAll()); err != nil || !v.OK() {
		t.Errorf("verify after the build: %+v %v", v, err)
	}
}
