//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	MaybeRunInit(os.Args)
	if len(os.Args) > 0 && os.Args[0] == "seccomp-probe" {
		seccompProbe()
	}
	os.Exit(m.Run())
}

// seccompProbe runs inside a sandbox (the test binary is its program)
// and reports what the filtered system calls return.
func seccompProbe() {
	f := "/tmp/probe"
	os.WriteFile(f, []byte("x"), 0o644)
	report := func(name string, err error) {
		if err == nil {
			fmt.Printf("%s: ok\n", name)
		} else {
			fmt.Printf("%s: %v\n", name, err)
		}
	}
	report("setxattr", unix.Setxattr(f, "user.x", []byte("1"), 0))
	report("lsetxattr", unix.Lsetxattr(f, "user.x", []byte("1"), 0))
	fd, _ := unix.Open(f, unix.O_RDONLY, 0)
	report("fsetxattr", unix.Fsetxattr(fd, "user.x", []byte("1"), 0))
	report("fchmod-suid", unix.Fchmod(fd, 0o4755))
	report("fchmodat-sgid", unix.Fchmodat(unix.AT_FDCWD, f, 0o2755, 0))
	report("fchmodat2-suid", fchmodat2(f, 0o4755))
	report("chmod-plain", unix.Chmod(f, 0o755))
	os.Exit(0)
}

var atFdcwd = unix.AT_FDCWD // a variable: a negative constant cannot convert to uintptr

func fchmodat2(path string, mode uint32) error {
	p, _ := unix.BytePtrFromString(path)
	_, _, errno := unix.Syscall6(452, uintptr(atFdcwd), uintptr(unsafe.Pointer(p)), uintptr(mode), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func TestSeccomp(t *testing.T) {
	need(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Root: t.TempDir(), HostUID: -1, HostGID: -1, Path: "/probe", Args: []string{"seccomp-probe"},
		Mounts: []Mount{{Source: exe, Target: "/probe", ReadOnly: true}}}
	// A dynamically linked test binary needs the host's libraries.
	for _, d := range []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64"} {
		spec.Mounts = append(spec.Mounts, Mount{Source: d, Target: d, ReadOnly: true, Optional: true})
	}
	out, err := output(t, &spec)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	want := "setxattr: operation not supported\nlsetxattr: operation not supported\nfsetxattr: operation not supported\n" +
		"fchmod-suid: operation not permitted\nfchmodat-sgid: operation not permitted\nfchmodat2-suid: operation not permitted\nchmod-plain: ok\n"
	if out != want {
		t.Errorf("probe:\n%s\nwant:\n%s", out, want)
	}
}

const busybox = "/bin/busybox"

// need skips the test when the sandbox cannot run here, loudly; with
// CI=true an unavailable sandbox on a host that has busybox is a failure.
func need(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(busybox); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install -y busybox-static)", busybox)
		}
		t.Skipf("SKIPPING: %s is missing (apt-get install -y busybox-static)", busybox)
	}
	if err := Check(context.Background(), t.TempDir()); err != nil {
		if errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true" {
			t.Skipf("SKIPPING: this host cannot create sandboxes: %v", err)
		}
		t.Fatalf("sandbox check: %v", err)
	}
}

// run runs script with busybox sh in a fresh sandbox and returns its
// output and exit error.
func run(t *testing.T, spec Spec, script string) (string, error) {
	t.Helper()
	spec.Root = t.TempDir()
	spec.Mounts = append(spec.Mounts, Mount{Source: busybox, Target: "/bin/busybox", ReadOnly: true})
	spec.Path = "/bin/busybox"
	spec.Args = []string{"sh", "-c", script}
	if spec.Env == nil {
		spec.Env = []string{"PATH=/path-not-set"}
	}
	spec.HostUID, spec.HostGID = -1, -1
	return output(t, &spec)
}

// output starts spec with stdout and stderr on a pipe and returns what
// the program wrote and how it exited.
func output(t *testing.T, spec *Spec) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spec.Stdout, spec.Stderr = w, w
	p, err := Start(context.Background(), spec)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start: %v", err)
	}
	out, _ := io.ReadAll(r)
	r.Close()
	return string(out), p.Wait()
}

func TestIsolation(t *testing.T) {
	need(t)
	out, err := run(t, Spec{Dir: "/tmp"}, `
b=/bin/busybox
echo "id=$($b id -u):$($b id -g)"
echo "host=$($b hostname) dom=$($b cat /proc/sys/kernel/domainname)"
echo "pwd=$($b pwd)"
echo "pid=$$"
echo "root=$($b ls / | $b tr '\n' ' ')"
echo "dev=$($b ls /dev | $b tr '\n' ' ')"
echo "net=$($b cat /proc/net/dev | $b tail -n +3 | $b cut -d: -f1 | $b tr -d ' ' | $b tr '\n' ' ')"
echo "uidmap=$($b cat /proc/self/uid_map | $b tr -s ' ')"
$b ls /etc >/dev/null 2>&1 && echo "etc visible" || echo "no etc"
echo x > /tmp/f; $b chmod 4755 /tmp/f 2>&1 || echo "chmod suid refused"
$b chmod 755 /tmp/f && echo "chmod ok"
$b chmod 600 /dev/null 2>/dev/null && echo "chmod /dev/null!" || echo "/dev/null protected"
echo hi > /dev/null && echo devnull ok
$b head -c 4 /dev/zero | $b wc -c
$b wget -T 2 -q -O- http://1.1.1.1/ >/dev/null 2>&1 && echo "network!" || echo "no network"
echo "caps=$($b grep CapEff /proc/self/status)"
`)
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	for _, want := range []string{
		"id=1000:100", "host=localhost dom=(none)", "pwd=/tmp", "pid=1",
		"root=bin dev proc tmp ",
		"dev=fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ",
		"net=lo ", "uidmap= 1000 ", "no etc", "chmod suid refused", "chmod ok", "/dev/null protected", "devnull ok",
		"4\n", "no network", "caps=CapEff:\t0000000000000000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestNetworkShared(t *testing.T) {
	need(t)
	out, err := run(t, Spec{Network: true}, `/bin/busybox cat /proc/net/dev | /bin/busybox wc -l`)
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	// The host has at least lo plus, usually, one more interface; the
	// private namespace has exactly lo (3 lines).
	host, _ := os.ReadFile("/proc/net/dev")
	if want := bytes.Count(host, []byte("\n")); strings.TrimSpace(out) != strings.TrimSpace(strings.Repeat("", 0)+itoa(want)) {
		t.Errorf("lines of /proc/net/dev = %q, want %d (the host's)", out, want)
	}
}

func itoa(n int) string {
	var b []byte
	for n >= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(append([]byte{byte('0' + n)}, b...))
}

func TestExitStatusAndMissingProgram(t *testing.T) {
	need(t)
	_, err := run(t, Spec{}, "exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit 3 gave %v", err)
	}
	spec := Spec{Root: t.TempDir(), Path: "/nope", Args: []string{"nope"}, HostUID: -1, HostGID: -1}
	_, err = Start(context.Background(), &spec)
	if err == nil || !strings.Contains(err.Error(), "executing '/nope'") {
		t.Fatalf("missing program: %v", err)
	}
}

func TestReadOnlyAndOptionalMounts(t *testing.T) {
	need(t)
	dir := t.TempDir()
	os.WriteFile(dir+"/f", []byte("data"), 0o644)
	out, err := run(t, Spec{Mounts: []Mount{
		{Source: dir, Target: "/in", ReadOnly: true},
		{Source: "/does/not/exist", Target: "/opt", Optional: true},
	}}, `/bin/busybox cat /in/f; echo; (echo x > /in/g) 2>/dev/null && echo writable || echo readonly; [ -e /opt ] && echo opt || echo noopt`)
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if out != "data\nreadonly\nnoopt\n" {
		t.Errorf("got %q", out)
	}
	spec := Spec{Root: t.TempDir(), Path: "/x", Mounts: []Mount{{Source: "/does/not/exist", Target: "/opt"}}, HostUID: -1, HostGID: -1}
	if _, err := Start(context.Background(), &spec); err == nil {
		t.Fatal("missing non-optional mount source accepted")
	}
}

func TestFilterShape(t *testing.T) {
	ts, err := tables()
	if err != nil {
		t.Skip(err)
	}
	prog := filter(ts)
	// Every jump must land inside the program.
	for pc, ins := range prog {
		if ins.Code&0x07 != 0x05 { // BPF_JMP
			continue
		}
		if ins.Code&0xf0 == 0x00 { // BPF_JA
			if pc+1+int(ins.K) >= len(prog) {
				t.Errorf("pc %d: ja out of range", pc)
			}
			continue
		}
		if pc+1+int(ins.Jt) >= len(prog) || pc+1+int(ins.Jf) >= len(prog) {
			t.Errorf("pc %d: jump out of range", pc)
		}
	}
	if last := prog[len(prog)-1]; last.K != retAllow {
		t.Errorf("program does not end by allowing")
	}
}

func TestUnavailableHint(t *testing.T) {
	for _, err := range []error{unavailable(&os.SyscallError{Syscall: "clone", Err: syscallEPERM}), setupError("unavailable: mount /proc: operation not permitted")} {
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "kernel.unprivileged_userns_clone=1") {
			t.Errorf("%v: not an ErrUnavailable with a hint", err)
		}
	}
	if err := setupError("executing '/x': no such file"); errors.Is(err, ErrUnavailable) {
		t.Errorf("%v matches ErrUnavailable", err)
	}
}

const syscallEPERM = unix.EPERM

// TestUnavailableWhenUserNamespacesDisabled runs Check in a process where
// user namespaces are switched off (user.max_user_namespaces = 0 inside
// a user namespace of its own) and expects ErrUnavailable with the fix.
func TestUnavailableWhenUserNamespacesDisabled(t *testing.T) {
	if os.Getenv("CAIRN_SANDBOX_CHECK_CHILD") == "1" {
		err := Check(context.Background(), t.TempDir())
		fmt.Printf("errors.Is(ErrUnavailable)=%v\n%v\n", errors.Is(err, ErrUnavailable), err)
		return
	}
	need(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("SKIPPING: no unshare(1) to disable user namespaces with")
	}
	exe, _ := os.Executable()
	cmd := exec.Command(unshare, "--user", "--map-root-user", busybox, "sh", "-c",
		`echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -test.run '^TestUnavailableWhenUserNamespacesDisabled$' -test.v`, exe)
	cmd.Env = append(os.Environ(), "CAIRN_SANDBOX_CHECK_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "errors.Is(ErrUnavailable)=true") || !strings.Contains(string(out), "user.max_user_namespaces") {
		t.Errorf("child output:\n%s", out)
	}
	t.Logf("%s", out)
}

// TestSkeletons: with Skeletons, the skeleton, Files and the mount points
// outside Root's entries come from a shared read-only skeleton, not from
// Root; Root's own entries are bound writable; Close removes the
// skeletons.
func TestSkeletons(t *testing.T) {
	need(t)
	parent := t.TempDir()
	sk := NewSkeletons(parent)
	in := t.TempDir()
	start := func() (string, string) {
		root := t.TempDir()
		if err := os.MkdirAll(root+"/nix/store", 0o755); err != nil {
			t.Fatal(err)
		}
		spec := Spec{Root: root, HostUID: -1, HostGID: -1, Path: "/bin/busybox", Skeletons: sk,
			Files: map[string][]byte{"/etc/passwd": []byte("pw\n"), "/etc/hosts": []byte("hosts\n")},
			Mounts: []Mount{
				{Source: busybox, Target: "/bin/busybox", ReadOnly: true},
				{Source: in, Target: "/nix/store/in", ReadOnly: true},
			},
			Args: []string{"sh", "-c", `b=/bin/busybox
$b cat /etc/passwd /etc/hosts
for f in /new /etc/new /dev/new /etc/passwd /nix/store/in/x; do (echo x > $f) 2>/dev/null && echo "$f writable" || echo "$f refused"; done
$b mkdir /bin/d 2>/dev/null && echo "mkdir writable" || echo "mkdir refused"
$b chmod 777 / 2>/dev/null && echo "chmod writable" || echo "chmod refused"
echo out > /nix/store/out && echo "store writable"
echo t > /tmp/t && echo "tmp writable"
echo n > /dev/null && echo "null ok"
$b ls / | $b tr '\n' ' '`}}
		out, err := output(t, &spec)
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out)
		}
		return root, out
	}
	want := "pw\nhosts\n/new refused\n/etc/new refused\n/dev/new refused\n/etc/passwd refused\n/nix/store/in/x refused\n" +
		"mkdir refused\nchmod refused\nstore writable\ntmp writable\nnull ok\nbin dev etc nix proc tmp "
	for range 2 {
		root, out := start()
		if out != want {
			t.Errorf("got:\n%s\nwant:\n%s", out, want)
		}
		// On the host: the output and /tmp's file, the input's mount
		// point, and nothing of the skeleton.
		var got []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if p != root {
				got = append(got, strings.TrimPrefix(p, root))
			}
			return nil
		})
		if w := []string{"/nix", "/nix/store", "/nix/store/in", "/nix/store/out", "/tmp", "/tmp/t"}; !slices.Equal(got, w) {
			t.Errorf("host root holds %q, want %q", got, w)
		}
	}
	if ents, _ := filepath.Glob(parent + "/cairn-sandbox-*/*"); len(ents) != 1 {
		t.Errorf("skeletons %q, want one shared by both sandboxes", ents)
	}
	if err := sk.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("Close left %v", ents)
	}
}

// TestSkeletonDevices: the sandbox's devices are the host's (type,
// numbers, mode), usable, and protected, both when the skeleton holds
// them as nodes (root, on a file system that allows devices) and when
// they are bind-mounted (a nodev file system, or not root).
func TestSkeletonDevices(t *testing.T) {
	need(t)
	const probe = `b=/bin/busybox
for d in full null random tty urandom zero; do $b stat -c "%n %F %t:%T %a" /dev/$d; done
echo x > /dev/null && echo "null writable"
[ "$($b head -c 3 /dev/zero | $b wc -c)" = 3 ] && echo "zero readable"
$b head -c 8 /dev/urandom | $b wc -c
(echo x > /dev/full) 2>/dev/null && echo "full accepted" || echo "full refused"
$b chmod 600 /dev/null 2>/dev/null && echo "chmod /dev/null!" || echo "chmod refused"
$b rm -f /dev/zero 2>/dev/null; [ -c /dev/zero ] && echo "zero stays"`
	var want strings.Builder
	for _, d := range devices {
		var st unix.Stat_t
		if err := unix.Stat("/dev/"+d, &st); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, "/dev/%s character special file %x:%x %o\n", d, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Mode&0o777)
	}
	want.WriteString("null writable\nzero readable\n8\nfull refused\nchmod refused\nzero stays\n")
	cases := []struct {
		name       string
		parent     func(t *testing.T) string
		nodes      bool
		mknodFails bool
	}{
		{"default", func(t *testing.T) string { return t.TempDir() }, os.Geteuid() == 0, false},
		// No CAP_MKNOD, or a device cgroup: mount points after all.
		{"mknod-refused", func(t *testing.T) string { return t.TempDir() }, false, true},
		{"nodev", func(t *testing.T) string {
			if os.Geteuid() != 0 {
				t.Skip("SKIPPING: mounting a nodev file system needs root")
			}
			dir := t.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NODEV, "mode=0755"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
			return dir
		}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sk := NewSkeletons(c.parent(t))
			defer sk.Close()
			if c.mknodFails {
				sk.mknod = func(string, uint32, int) error { return unix.EPERM }
			}
			root := t.TempDir()
			spec := Spec{Root: root, HostUID: -1, HostGID: -1, Path: "/bin/busybox", Skeletons: sk,
				Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}},
				Args:   []string{"sh", "-c", probe}}
			out, err := output(t, &spec)
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, out)
			}
			if out != want.String() {
				t.Errorf("got:\n%s\nwant:\n%s", out, want.String())
			}
			// Nodes in the skeleton, or placeholders under bind mounts.
			ents, _ := filepath.Glob(sk.parent + "/cairn-sandbox-*/*/dev/null")
			if len(ents) != 1 {
				t.Fatalf("skeleton /dev/null: %q", ents)
			}
			fi, err := os.Lstat(ents[0])
			if err != nil {
				t.Fatal(err)
			}
			if isNode := fi.Mode()&os.ModeCharDevice != 0; isNode != c.nodes {
				t.Errorf("skeleton /dev/null is a device node: %v, want %v", isNode, c.nodes)
			}
		})
	}
}

// TestSpawner: sandboxes started through a Spawner are the same
// sandboxes (ids, PID 1, private network), report exit statuses and
// signals, can be killed, and die with the helper.
func TestSpawner(t *testing.T) {
	need(t)
	forSpawners(t, testSpawner)
}

// forSpawners runs f with each kind of Spawner this machine has: the one
// with a helper process, and the one that starts inits in-process.
func forSpawners(t *testing.T, f func(t *testing.T, sp *Spawner)) {
	kinds := []struct {
		name string
		sp   func() *Spawner
	}{{"helper", newHelperSpawner}, {"in-process", NewSpawner}}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			sp := k.sp()
			if (sp.local != nil) != (k.name == "in-process") {
				t.Skipf("SKIPPING: no %s Spawner on %s", k.name, runtime.GOARCH)
			}
			defer sp.Close()
			f(t, sp)
		})
	}
}

func testSpawner(t *testing.T, sp *Spawner) {
	out, err := run(t, Spec{Spawner: sp}, `b=/bin/busybox; echo "$($b id -u):$($b id -g) pid=$$ net=$($b cat /proc/net/dev | $b tail -n +3 | $b cut -d: -f1 | $b tr -d ' ')"; exit 3`)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit 3 gave %v", err)
	}
	if out != "1000:100 pid=1 net=lo\n" {
		t.Errorf("got %q", out)
	}
	if _, err := run(t, Spec{Spawner: sp}, "true"); err != nil {
		t.Errorf("true: %v", err)
	}
	// Only stdin (/dev/null), stdout and stderr reach the program: no
	// descriptor of the spawner (which forks the init) or of cairn's
	// parent, close-on-exec or not (3 is ls's own directory).
	// close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11.
	closeRangeOK := unix.CloseRange(1<<30, 1<<30, unix.CLOSE_RANGE_CLOEXEC) == nil
	for _, sp := range []*Spawner{sp, nil} {
		if !closeRangeOK {
			t.Log("no close_range(CLOSE_RANGE_CLOEXEC) here (Linux < 5.11): descriptors not checked")
			break
		}
		out, err := output(t, &Spec{Root: t.TempDir(), Spawner: sp, HostUID: -1, HostGID: -1,
			Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}},
			Path:   "/bin/busybox", Args: []string{"ls", "/proc/self/fd/"}})
		// 3 is ls's own directory handle.
		if err != nil || out != "0\n1\n2\n3\n" {
			t.Errorf("spawner %v: descriptors of the program: %q, %v", sp != nil, out, err)
		}
	}
	// The program starts with no signal blocked, and, from the spawner
	// (whose init never runs the runtime's after-fork code), none
	// ignored either; no handler survives the exec in any case.
	for _, sp := range []*Spawner{sp, nil} {
		out, err := output(t, &Spec{Root: t.TempDir(), Spawner: sp, HostUID: -1, HostGID: -1,
			Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}},
			Path:   "/bin/busybox", Args: []string{"grep", "^Sig[BIC]", "/proc/self/status"}})
		if err != nil {
			t.Fatalf("spawner %v: signals: %v\n%s", sp != nil, err, out)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if strings.Trim(strings.TrimSpace(v), "0") != "" && (k != "SigIgn" || sp != nil) {
				t.Errorf("spawner %v: %s", sp != nil, l)
			}
		}
	}
	spec := Spec{Root: t.TempDir(), Spawner: sp, HostUID: -1, HostGID: -1, Path: "/nope", Args: []string{"nope"}}
	if _, err := Start(context.Background(), &spec); err == nil || !strings.Contains(err.Error(), "executing '/nope'") {
		t.Errorf("missing program: %v", err)
	}
	// Kill, and Close while a sandbox runs.
	for _, viaClose := range []bool{false, true} {
		spec := Spec{Root: t.TempDir(), Spawner: sp, HostUID: -1, HostGID: -1, Path: "/bin/busybox", Args: []string{"sleep", "60"},
			Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}}}
		p, err := Start(context.Background(), &spec)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if viaClose {
			sp.Close()
		} else {
			p.Kill()
		}
		err = p.Wait()
		if err == nil || time.Since(start) > 10*time.Second {
			t.Errorf("close %v: wait gave %v after %v", viaClose, err, time.Since(start))
		}
		if unix.Kill(p.Pid(), 0) == nil {
			t.Errorf("close %v: sandbox pid %d still exists", viaClose, p.Pid())
		}
	}
}

// TestStaleSkeletons: a skeleton directory left by a process that is
// gone is removed when another Skeletons makes its first skeleton; one
// of a live process stays.
func TestStaleSkeletons(t *testing.T) {
	need(t)
	parent := t.TempDir()
	cmd := exec.Command(busybox, "true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(parent, fmt.Sprintf("cairn-sandbox-%d-1", cmd.Process.Pid))
	live := filepath.Join(parent, fmt.Sprintf("cairn-sandbox-%d-1", os.Getppid()))
	for _, d := range []string{dead + "/0/dev", live + "/0/dev"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sk := NewSkeletons(parent)
	defer sk.Close()
	if _, err := run(t, Spec{Skeletons: sk}, "true"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("stale skeleton kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live process's skeleton removed: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/cgroup`:        "/sys/fs/cgroup",
		`/mnt/a\040b`:           "/mnt/a b",
		`/x\134y\011z`:          "/x\\y\tz",
		`/trailing\04`:          `/trailing\04`,
		`/not\999octal\0401end`: "/not\\999octal 1end",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// TestSpawnerTrimsMounts: as root, the spawner runs in a mount namespace
// of its own without the sub-mounts of /sys, and the host's are untouched.
func TestSpawnerTrimsMounts(t *testing.T) {
	need(t)
	if os.Geteuid() != 0 {
		t.Skip("the spawner trims its mounts only when cairn is root")
	}
	sp := newHelperSpawner()
	defer sp.Close()
	if _, err := run(t, Spec{Spawner: sp}, "true"); err != nil {
		t.Fatal(err)
	}
	var pid int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if strings.HasPrefix(string(cmdline), spawnerArg0+"\x00") &&
			strings.Contains(string(stat), fmt.Sprintf(") S %d ", os.Getpid())) {
			pid, _ = strconv.Atoi(e.Name())
		}
	}
	if pid == 0 {
		t.Fatal("spawner process not found")
	}
	mine, _ := os.ReadFile("/proc/self/mountinfo")
	theirs, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(theirs), " /sys/") {
		t.Errorf("the spawner still has mounts under /sys:\n%s", theirs)
	}
	if !strings.Contains(string(theirs), " /sys ") || !strings.Contains(string(theirs), " /proc ") {
		t.Errorf("the spawner lost /sys or /proc:\n%s", theirs)
	}
	t.Logf("mounts: ours %d, the spawner's %d", strings.Count(string(mine), "\n"), strings.Count(string(theirs), "\n"))
}

// TestSpawnerLargeProgram: a set-up program larger than a pipe's buffer
// (an environment of 300 KB) reaches the init, forked or exec'd.
func TestSpawnerLargeProgram(t *testing.T) {
	need(t)
	forSpawners(t, testSpawnerLargeProgram)
}

func testSpawnerLargeProgram(t *testing.T, sp *Spawner) {
	env := []string{"PATH=/path-not-set"}
	for i := range 3 {
		env = append(env, fmt.Sprintf("BIG%d=%s", i, strings.Repeat(strconv.Itoa(i), 100<<10)))
	}
	for _, sp := range []*Spawner{sp, nil} {
		out, err := run(t, Spec{Spawner: sp, Env: env}, `echo ${#BIG0} ${#BIG1} ${#BIG2} ${BIG2:0:3}`)
		if err != nil || out != "102400 102400 102400 222\n" {
			t.Errorf("spawner %v: %q, %v", sp != nil, out, err)
		}
	}
}

// TestSpawnerNetPool: as root, a sandbox without network may get the
// network namespace of one that has finished, but only one in which
// nothing happened: after a build that sent a packet, no later sandbox
// gets its namespace, and every sandbox finds "lo" up with all its
// counters at zero.
func TestSpawnerNetPool(t *testing.T) {
	need(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: network namespaces are pooled only when cairn is root")
	}
	forSpawners(t, testSpawnerNetPool)
}

func testSpawnerNetPool(t *testing.T, sp *Spawner) {
	const probe = `b=/bin/busybox; echo "$($b readlink /proc/self/ns/net) $($b grep lo: /proc/net/dev | $b tr -s ' ')"`
	ns := func(script string) (inode, lo string) {
		t.Helper()
		out, err := run(t, Spec{Spawner: sp}, script)
		if err != nil {
			t.Fatalf("sandbox: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		inode, lo, _ = strings.Cut(lines[len(lines)-1], " ")
		lo = strings.TrimSpace(lo)
		if want := "lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"; lo != want {
			t.Errorf("lo in a sandbox: %q, want %q", lo, want)
		}
		return inode, lo
	}
	// A namespace goes back to the pool shortly after its sandbox ends.
	first, _ := ns(probe)
	reused := false
	for i := 0; i < 50 && !reused; i++ {
		time.Sleep(20 * time.Millisecond)
		next, _ := ns(probe)
		reused = next == first
	}
	if !reused {
		t.Fatalf("no sandbox got the namespace %s of an idle one", first)
	}
	// After each of these, no later sandbox may get the namespace: a
	// connection attempt to a closed port (a SYN and a reset over lo,
	// which must be up: refused, not unreachable) and ones with no route,
	// which send nothing. The test holds the namespace open: once the pool
	// lets it go, a new namespace would soon get its inode number.
	for _, c := range []struct{ cmd, want string }{
		{"$b nc 127.0.0.1 9", "refused"},
		{"$b nc 192.0.2.1 9", "unreachable"},
		{"$b nc 2001:db8::1 9", "unreachable"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		sync := t.TempDir()
		spec := Spec{Spawner: sp, Root: t.TempDir(), HostUID: -1, HostGID: -1, Stdout: w, Stderr: w,
			Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}, {Source: sync, Target: "/sync"}},
			Path:   "/bin/busybox",
			Args: []string{"sh", "-c", `b=/bin/busybox; while [ ! -e /sync/go ]; do $b usleep 2000; done
` + c.cmd + ` </dev/null 2>&1; ` + probe}}
		p, err := Start(context.Background(), &spec)
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		held, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		if err := os.WriteFile(filepath.Join(sync, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		outb, _ := io.ReadAll(r)
		r.Close()
		out := string(outb)
		if err := p.Wait(); err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("%s: %v, want %q in\n%s", c.cmd, err, c.want, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		used, _, _ := strings.Cut(lines[len(lines)-1], " ")
		for i := 0; i < 10; i++ {
			time.Sleep(20 * time.Millisecond)
			if next, _ := ns(probe); next == used {
				t.Fatalf("a sandbox got the namespace %s, in which an earlier one ran %s", used, c.cmd)
			}
		}
	}
}

func TestPerNamespace(t *testing.T) {
	in := "sockets: used 3\nTCP: inuse 1 orphan 2 tw 6 alloc 9 mem 15\nUDP: inuse 0 mem 4\nFRAG: inuse 0 memory 7\n"
	want := "sockets: used 3 \nTCP: inuse 1 tw 6 \nUDP: inuse 0 \nFRAG: inuse 0 memory 7 \n\n"
	if got := string(perNamespace([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// pooledSpawner returns a Spawner whose sandboxes use pooled mount
// namespaces, closed when the test ends, or skips the test.
func pooledSpawner(t *testing.T) *Spawner {
	t.Helper()
	need(t)
	sp := NewSpawner()
	t.Cleanup(func() { sp.Close() })
	if !sp.poolsMnts() {
		t.Skipf("SKIPPING: mount namespaces are pooled only by a root cairn's in-process spawner (root: %v, %s)", os.Geteuid() == 0, runtime.GOARCH)
	}
	return sp
}

func TestSpawnerMntPool(t *testing.T) {
	sp := pooledSpawner(t)
	// start runs script in a sandbox of sp whose host ids are those of a
	// build user, holds its mount namespace open (so that its inode
	// number is not reused) and returns the namespace and the output.
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	start := func(script string) (ns, out string, err error) {
		t.Helper()
		r, w, perr := os.Pipe()
		if perr != nil {
			t.Fatal(perr)
		}
		sync := t.TempDir()
		root := t.TempDir()
		spec := Spec{Spawner: sp, Root: root, HostUID: 30001, HostGID: 30000, Stdout: w, Stderr: w,
			Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}, {Source: sync, Target: "/sync"}},
			Env:    []string{"PATH=/path-not-set"}, Path: "/bin/busybox",
			Args: []string{"sh", "-c", `b=/bin/busybox; while [ ! -e /sync/go ]; do $b usleep 1000; done; ` + script}}
		if err := os.Chmod(sync, 0o755); err != nil {
			t.Fatal(err)
		}
		p, serr := Start(context.Background(), &spec)
		w.Close()
		if serr != nil {
			t.Fatal(serr)
		}
		f, oerr := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", p.Pid()))
		if oerr != nil {
			t.Fatal(oerr)
		}
		held = append(held, f)
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p.Pid()))
		if err := os.WriteFile(filepath.Join(sync, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		return link, string(b), p.Wait()
	}
	mine, _ := os.Readlink("/proc/self/ns/mnt")

	// The first sandbox gets a new namespace; the second the same one,
	// and sees the same: its own mounts only, and itself as nixbld with
	// no supplementary group, mapped to the build user.
	const look = `$b id; $b cat /proc/self/uid_map /proc/self/gid_map | $b tr -s ' '; $b ls /; $b cut -d' ' -f5 /proc/self/mountinfo`
	ns1, out1, err := start(look)
	if err != nil {
		t.Fatalf("first sandbox: %v\n%s", err, out1)
	}
	if ns1 == mine {
		t.Fatalf("the sandbox is in cairn's mount namespace %s", mine)
	}
	ns2, out2, err := start(look)
	if err != nil {
		t.Fatalf("second sandbox: %v\n%s", err, out2)
	}
	if ns2 != ns1 {
		t.Fatalf("the second sandbox got mount namespace %s, not the idle %s", ns2, ns1)
	}
	// What a sandbox with a mount namespace of its own shows.
	sync := t.TempDir()
	os.WriteFile(filepath.Join(sync, "go"), nil, 0o644)
	os.Chmod(sync, 0o755)
	want, err := output(t, &Spec{Root: t.TempDir(), HostUID: 30001, HostGID: 30000,
		Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}, {Source: sync, Target: "/sync"}},
		Env:    []string{"PATH=/path-not-set"}, Path: "/bin/busybox", Args: []string{"sh", "-c", "b=/bin/busybox; " + look}})
	if err != nil || !strings.HasPrefix(want, "uid=1000 gid=100\n 1000 30001 1\n 100 30000 1\nbin\ndev\nproc\nsync\ntmp\n/\n") {
		t.Fatalf("a sandbox of its own: %v\n%s", err, want)
	}
	if out1 != want || out2 != want {
		t.Errorf("in a pooled namespace:\n%s\nthen\n%s\nwant (a namespace of its own)\n%s", out1, out2, want)
	}
	mounts := strings.Count(want, "\n/")

	// A build may make namespaces of its own, as in Nix, and cannot
	// uncover the sandboxes below its root there.
	ns3, out, err := start(`$b unshare -U -m -r $b sh -c '$b umount -l / && echo uncovered; $b ls /; $b wc -l < /proc/self/mountinfo'`)
	if err != nil || ns3 != ns1 || out != fmt.Sprintf("umount: can't unmount /: Invalid argument\nbin\ndev\nproc\nsync\ntmp\n%d\n", mounts) {
		t.Errorf("nested namespaces (namespace %s, pooled %s): %v\n%s", ns3, ns1, err, out)
	}

	// A sandbox that leaves a file in /dev/shm, or fails, is the last
	// in its namespace.
	for _, script := range []string{`echo x > /dev/shm/x`, `exit 1`} {
		used, out, _ := start(script + `; $b readlink /proc/self/ns/mnt >/dev/null`)
		next, out2, err := start("true")
		if err != nil || next == used {
			t.Errorf("after %q (%s): the next sandbox got namespace %s (%v)\n%s", script, out, next, err, out2)
		}
	}

	// A namespace holds maxMntUses sandboxes at most.
	first, _, err := start("true")
	if err != nil {
		t.Fatal(err)
	}
	seen := 1
	for ; seen <= maxMntUses; seen++ {
		ns, out, err := start("true")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if ns != first {
			break
		}
	}
	if seen > maxMntUses {
		t.Errorf("namespace %s held more than %d sandboxes", first, maxMntUses)
	}
}

// TestInitDescriptors: an init cloned from cairn holds none of cairn's
// descriptors once it runs its set-up, those of other sandboxes being
// started included: it used to hold them until it exec'd, and another
// sandbox's start waited for it.
func TestInitDescriptors(t *testing.T) {
	sp := pooledSpawner(t)
	// A descriptor of cairn's, as another sandbox's error pipe would be.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var fds []string
	sp.local.mnts.askedForMaps = func(pid int) {
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, e := range entries {
			fds = append(fds, e.Name())
		}
	}
	if out, err := run(t, Spec{Spawner: sp}, "true"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// 0-2, the error pipe (4) and the id map socket (5).
	if strings.Join(fds, " ") != "0 1 2 4 5" {
		t.Errorf("descriptors of the init during its set-up: %v", fds)
	}
}

// TestSpawnerMntPoolThreads: the thread that started a sandbox in a
// pooled mount namespace comes back to the spawner's namespace, root and
// working directory once the sandbox is reaped, and runs other goroutines
// instead of ending: sandboxes after the first start no threads of
// their own, and no thread is left anywhere else.
func TestSpawnerMntPoolThreads(t *testing.T) {
	sp := pooledSpawner(t)
	tasks := func() map[string]bool {
		t.Helper()
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, e := range ents {
			m[e.Name()] = true
		}
		return m
	}
	sandbox := func() {
		t.Helper()
		if out, err := run(t, Spec{Spawner: sp}, "true"); err != nil {
			t.Fatalf("sandbox: %v\n%s", err, out)
		}
	}
	sandbox()
	before := tasks()
	const n = 8
	for i := 0; i < n; i++ {
		sandbox()
	}
	after := tasks()
	started := 0
	for tid := range after {
		if !before[tid] {
			started++
		}
	}
	if started > n/4 {
		t.Errorf("%d threads started for %d sandboxes", started, n)
	}
	wantNS, err := os.Readlink("/proc/thread-self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for tid := range after {
		dir := "/proc/self/task/" + tid + "/"
		ns, err1 := os.Readlink(dir + "ns/mnt")
		root, err2 := os.Readlink(dir + "root")
		cwd, err3 := os.Readlink(dir + "cwd")
		if err1 != nil || err2 != nil || err3 != nil {
			continue // the thread has ended
		}
		if ns != wantNS || root != "/" || cwd != wd {
			t.Errorf("thread %s: mount namespace %s, root %s, working directory %s; want %s, /, %s", tid, ns, root, cwd, wantNS, wd)
		}
	}
}
