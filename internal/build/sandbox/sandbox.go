//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"cairn/internal/build/sandbox/initprog"
)

// InitArg0 is the argv[0] under which Start re-executes the running
// binary as the sandbox init.
const InitArg0 = initprog.Arg0

// Nix's ids for the build user inside the sandbox (nixbld).
const (
	DefaultUID = 1000
	DefaultGID = 100
)

// ErrUnavailable is matched by errors saying that this host cannot create
// the sandbox (user namespaces disabled, seccomp refused, ...). Such
// errors say how to fix the host.
var ErrUnavailable = errors.New("sandbox unavailable")

// A Mount is a bind mount of a host file or directory into the sandbox.
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute path inside the sandbox
	ReadOnly bool
	// Optional mounts are skipped when Source does not exist (Nix's
	// "target=source?" sandbox-paths).
	Optional bool
}

// Spec describes one sandboxed process.
type Spec struct {
	// Root is the host directory that becomes "/". It must exist; Start
	// creates the mount points for Mounts and the /proc, /dev and /tmp
	// skeleton inside it, and Files. The caller removes it afterwards
	// (the mounts only ever exist inside the sandbox's own mount
	// namespace).
	//
	// With Skeletons, Start creates in Root only /tmp and the mount
	// points that lie under Root's existing top-level entries (such as
	// the store directory, where outputs are written); the rest comes
	// from a skeleton made once and shared, read-only, by the sandboxes
	// that need the same one, on which Root's top-level entries are
	// bind-mounted writable.
	Root   string
	Mounts []Mount
	// Files are created, mode 0644, at these absolute paths of the
	// sandbox (such as /etc/passwd); their directories are made as
	// needed.
	Files map[string][]byte
	// Skeletons, if not nil, provides shared skeletons (see Root).
	Skeletons *Skeletons
	// Spawner, if not nil, creates the sandbox (see Spawner); its
	// program's unsuccessful exit is then an *ExitError.
	Spawner *Spawner
	// Network keeps the host's network namespace (fixed-output
	// derivations); otherwise the sandbox has only "lo".
	Network bool
	// Hostname and Domainname default to "localhost" and "(none)".
	Hostname, Domainname string

	Path string   // program, resolved inside the sandbox
	Args []string // argv, including argv[0]
	Env  []string // the complete environment
	Dir  string   // working directory inside the sandbox

	// UID and GID are the ids inside the sandbox (default 1000/100);
	// HostUID and HostGID the host ids they map to (-1: the caller's
	// effective ids). Files the program creates belong to the host ids.
	UID, GID         int
	HostUID, HostGID int

	// Stdout and Stderr receive the program's output (nil: /dev/null);
	// stdin is always /dev/null.
	Stdout, Stderr *os.File

	// NoSeccomp disables the seccomp filter (it is on by default).
	NoSeccomp bool
	// AllowNewPrivileges leaves NO_NEW_PRIVS unset (Nix's
	// allow-new-privileges).
	AllowNewPrivileges bool
	// Linux32 runs the program with the PER_LINUX32 personality (i686
	// builds on x86_64).
	Linux32 bool
	// DevShmSize is the size= option of the /dev/shm tmpfs ("" = "50%").
	DevShmSize string
}

// initSpec is what the init reads from fd 3.
type initSpec struct {
	Root       string
	Skeleton   string // the shared skeleton to bind over Root ("": none)
	DevNodes   bool   // the skeleton has the devices as nodes: no binds
	Mounts     []Mount
	Network    bool
	PoolNet    bool // the spawner provides the network namespace (see netPool)
	PoolMnt    bool // the init stacks its root in a pooled mount namespace (see mntPool)
	Hostname   string
	Domainname string
	Path       string
	Args       []string
	Env        []string
	Dir        string
	Seccomp    bool
	NoNewPrivs bool
	Linux32    bool
	ShmSize    string
	Probe      bool // exit 0 after the set-up instead of exec
	UID, GID   int  // ids inside, taken after the mounts

	HostUID, HostGID int `json:"-"` // the host ids UID and GID map to
}

// devices are the host's, in /dev: bind-mounted, or nodes in the
// skeleton (Skeletons.get).
var devices = []string{"full", "null", "random", "tty", "urandom", "zero"}

// A Process is a running sandbox.
type Process struct {
	cmd   *exec.Cmd
	rem   *remote // started by a Spawner (then cmd is nil)
	group bool    // StartDirect: kill the process group

	// For group kills: the leader's pid names the group only until the
	// leader is reaped; after that the number may belong to another
	// session (another build's sandbox), so mu orders Kill against the
	// reaping and reaped stops kills from then on.
	mu     sync.Mutex
	reaped bool

	skel *Skeletons // released by Wait

	// Without a Spawner: the result of cmd.Wait, from the goroutine
	// that started it (see startLocked).
	waited   chan error
	waitOnce sync.Once
	waitErr  error
}

// startLocked starts cmd from a goroutine locked to its thread, which
// then waits for it and sends the result to waited. The child's
// parent-death signal fires when the thread that forked it exits, not
// the process (golang/go#27505); a thread kept by a goroutine until the
// child is reaped cannot be ended by another goroutine. beforeReap, if
// not nil, runs on that goroutine before the child is reaped.
func startLocked(cmd *exec.Cmd, waited chan<- error, beforeReap func()) error {
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			if beforeReap != nil {
				beforeReap()
			}
			waited <- cmd.Wait()
		}
	}()
	return <-started
}

// Pid returns the host pid of the sandbox's PID 1.
func (p *Process) Pid() int {
	if p.rem != nil {
		return p.rem.pid
	}
	return p.cmd.Process.Pid
}

// Kill kills every process in the sandbox (its PID 1 is killed, and the
// kernel kills the rest of the PID namespace); for StartDirect, every
// process of the program's session that is still in it. It may be
// called after Wait, which for StartDirect has already killed what the
// program left behind.
func (p *Process) Kill() error {
	if p.group {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.reaped {
			return nil // Wait killed the group before reaping its leader
		}
		return killGroup(p.cmd.Process.Pid)
	}
	if p.rem != nil {
		return p.rem.kill()
	}
	return p.cmd.Process.Kill()
}

// Wait waits for the program to exit. A non-zero exit or a signal is an
// *exec.ExitError.
//
// For StartDirect, Wait kills what is left of the program's session
// when the program exits and before it is reaped, while its pid still
// names the group (a zombie keeps the number reserved).
func (p *Process) Wait() error {
	var err error
	if p.rem != nil {
		err = p.rem.wait()
	} else {
		p.waitOnce.Do(func() { p.waitErr = <-p.waited })
		err = p.waitErr
	}
	p.mu.Lock()
	if p.skel != nil {
		p.skel.release()
		p.skel = nil
	}
	p.mu.Unlock()
	return err
}

// Start starts spec.Path in a new sandbox. The sandbox is up (mounts
// done, program exec'd) when Start returns without error.
func Start(ctx context.Context, spec *Spec) (*Process, error) {
	return start(ctx, spec, false)
}

func start(ctx context.Context, spec *Spec, probe bool) (*Process, error) {
	if !filepath.IsAbs(spec.Root) {
		return nil, fmt.Errorf("start sandbox: root %q is not absolute", spec.Root)
	}
	s := initSpec{
		Root: spec.Root, Network: spec.Network,
		Hostname: spec.Hostname, Domainname: spec.Domainname,
		Path: spec.Path, Args: spec.Args, Env: spec.Env, Dir: spec.Dir,
		Seccomp: !spec.NoSeccomp, NoNewPrivs: !spec.AllowNewPrivileges, Linux32: spec.Linux32,
		ShmSize: spec.DevShmSize, Probe: probe,
	}
	if s.Hostname == "" {
		s.Hostname = "localhost"
	}
	if s.Domainname == "" {
		s.Domainname = "(none)"
	}
	if s.Dir == "" {
		s.Dir = "/"
	}
	if s.ShmSize == "" {
		s.ShmSize = "50%"
	}
	uid, gid := spec.UID, spec.GID
	if uid == 0 && gid == 0 {
		uid, gid = DefaultUID, DefaultGID
	}
	hostUID, hostGID := spec.HostUID, spec.HostGID
	if hostUID < 0 {
		hostUID = os.Geteuid()
	}
	if hostGID < 0 {
		hostGID = os.Getegid()
	}
	s.UID, s.GID, s.HostUID, s.HostGID = uid, gid, hostUID, hostGID
	if spec.Skeletons != nil {
		spec.Skeletons.acquire()
	}
	started := false
	defer func() {
		if !started && spec.Skeletons != nil {
			spec.Skeletons.release()
		}
	}()
	s.PoolNet = !s.Network && spec.Spawner != nil && spec.Spawner.poolsNets()
	s.PoolMnt = spec.Spawner != nil && spec.Spawner.poolsMnts()
	if err := prepareRoot(&s, spec, hostGID); err != nil {
		return nil, fmt.Errorf("prepare sandbox root %s: %w", spec.Root, err)
	}
	prog, err := buildProgram(&s)
	if err != nil {
		return nil, setupError(err.Error())
	}

	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	defer errR.Close()
	var local *localStarts
	if spec.Spawner != nil {
		local = spec.Spawner.local
	}
	// Started from this process, the init gets the program as it is;
	// otherwise it is written while the init starts: a helper reads it
	// before it forks the init, an exec'd init first thing. Closing
	// specR (by the init, the helper or this function) ends a write
	// nobody reads.
	var specR *os.File
	werrc := make(chan error, 1)
	if local == nil {
		var specW *os.File
		if specR, specW, err = os.Pipe(); err != nil {
			errW.Close()
			return nil, fmt.Errorf("start sandbox: %w", err)
		}
		defer specR.Close()
		go func(b []byte) {
			_, err := specW.Write(b)
			specW.Close()
			werrc <- err
		}(prog.p.Encode())
	} else {
		werrc <- nil
	}
	var cmd *exec.Cmd
	var rem *remote
	var waited chan error
	switch {
	case local != nil:
		rem, err = local.launch(&s, &prog.p, errW, spec.Stdout, spec.Stderr)
	case spec.Spawner != nil:
		rem, err = spec.Spawner.launch(&s, specR, errW, spec.Stdout, spec.Stderr)
	default:
		cmd = initCmd(uid, gid, hostUID, hostGID, spec.Network, specR, errW, spec.Stdout, spec.Stderr)
		waited = make(chan error, 1)
		err = startLocked(cmd, waited, nil)
	}
	if err != nil {
		errW.Close()
		return nil, unavailable(err)
	}
	p := &Process{cmd: cmd, rem: rem, waited: waited, skel: spec.Skeletons}
	errW.Close()
	// The init closes fd 4 by exec'ing (close-on-exec) or writes which
	// of its calls failed.
	msg, _ := io.ReadAll(errR)
	werr := <-werrc
	if len(msg) > 0 || werr != nil {
		p.Kill()
		p.skel = nil // released by the deferred function
		p.Wait()
		f, ok := initprog.DecodeFailure(msg)
		switch {
		case ok:
			return nil, setupError(prog.failure(f).Error())
		case werr != nil:
			return nil, fmt.Errorf("start sandbox: send set-up program: %w", werr)
		}
		return nil, fmt.Errorf("start sandbox: the init reported %q", msg)
	}
	started = true
	return p, nil
}

// initCmd is the command that starts a sandbox init in new namespaces,
// with uid and gid inside mapped to hostUID and hostGID, reading its
// spec from specR and reporting set-up errors on errW.
func initCmd(uid, gid, hostUID, hostGID int, network bool, specR, errW, stdout, stderr *os.File) *exec.Cmd {
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if !network {
		flags |= unix.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{InitArg0},
		// The init runs one goroutine for a few milliseconds: with
		// GOMAXPROCS set, the runtime does not read cgroup files to
		// choose it, and starts fewer threads; it never needs a GC.
		// The program gets its own environment, not this one.
		Env:        []string{"GOMAXPROCS=1", "GOGC=off"},
		ExtraFiles: []*os.File{specR, errW},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 flags,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: uid, HostID: hostUID, Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: gid, HostID: hostGID, Size: 1}},
			GidMappingsEnableSetgroups: false,
			AmbientCaps: []uintptr{
				unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_NET_ADMIN,
				unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_CHOWN, unix.CAP_SETUID, unix.CAP_SETGID,
			},
			Setsid: true,
			// The sandbox dies with its creator, as Nix's builders do
			// (startProcess's dieWithParent): a SIGKILLed cairn must not
			// leave builds running. The init re-arms it after setuid,
			// which clears it.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	// A nil *os.File in an io.Writer is not a nil Writer.
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	return cmd
}

// setupError turns an init failure into an error; failures that mean the
// host does not allow the sandbox match ErrUnavailable.
func setupError(msg string) error {
	if strings.HasPrefix(msg, "unavailable: ") {
		return fmt.Errorf("set up sandbox: %s: %w\n%s", strings.TrimPrefix(msg, "unavailable: "), ErrUnavailable, fixHint)
	}
	return fmt.Errorf("set up sandbox: %s", msg)
}

const fixHint = `hint: cairn builds in Linux namespaces (user, mount, PID, IPC, UTS, network).
To allow them:
  - Debian/older kernels:  sysctl -w kernel.unprivileged_userns_clone=1
  - all kernels:           sysctl -w user.max_user_namespaces=15000
  - Ubuntu 23.10+:         sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
  - in a container:        run it with --privileged or a seccomp profile that allows clone/unshare/mount
or build without the sandbox (sandbox = false), which is not isolated.`

func unavailable(err error) error {
	why := ""
	switch {
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EUSERS):
		why = " (the limit on user namespaces, user.max_user_namespaces, is 0 or reached)"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		why = " (this host does not let this user create namespaces)"
	case errors.Is(err, unix.EINVAL):
		why = " (the kernel lacks user, PID, network, IPC or UTS namespaces)"
	default:
		return fmt.Errorf("start sandbox: %w", err)
	}
	return fmt.Errorf("start sandbox: create namespaces%s: %w: %w\n%s", why, err, ErrUnavailable, fixHint)
}

// prepareRoot creates, as the caller, what the init needs in s.Root and
// resolves optional mounts into s.Mounts: the whole skeleton, or, with
// spec.Skeletons, /tmp and the mount points under Root's top-level
// entries, and it picks the shared skeleton for the rest.
func prepareRoot(s *initSpec, spec *Spec, hostGID int) error {
	root := s.Root
	if err := ownRoot(root, hostGID); err != nil {
		return err
	}
	if err := mkdirMode(filepath.Join(root, "tmp"), os.ModeSticky|0o777); err != nil {
		return err
	}
	var skel []initMount // mount points that go into the skeleton
	onHost := map[string]bool{}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("mount %s on %s: paths must be absolute", m.Source, m.Target)
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			if m.Optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		s.Mounts = append(s.Mounts, m)
		if spec.Skeletons != nil {
			top, _, _ := strings.Cut(strings.TrimPrefix(filepath.Clean(m.Target), "/"), "/")
			host, ok := onHost[top]
			if !ok {
				_, err := os.Lstat(filepath.Join(root, top))
				host = err == nil && top != ""
				onHost[top] = host
			}
			if !host {
				skel = append(skel, initMount{m.Target, fi.IsDir()})
				continue
			}
		}
		if err := makeTarget(filepath.Join(root, m.Target), fi.IsDir()); err != nil {
			return err
		}
	}
	if spec.Skeletons == nil {
		return makeSkeleton(root, spec.Files, nil, nil, nil)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var top []initMount
	for _, e := range entries {
		top = append(top, initMount{"/" + e.Name(), e.IsDir()})
	}
	s.Skeleton, s.DevNodes, err = spec.Skeletons.get(hostGID, spec.Files, skel, top)
	return err
}

// initMount is a mount point to create: a directory or a file.
type initMount struct {
	Target string
	Dir    bool
}

// ownRoot gives a sandbox root (or skeleton) Nix's owner and mode when
// running as root: the init runs as the build user and must be able to
// look up paths under it (Nix: root:nixbld 0750).
func ownRoot(root string, hostGID int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(root, 0, hostGID); err != nil {
		return err
	}
	return os.Chmod(root, 0o750)
}

// mkdirMode creates directory p (if missing) with exactly mode.
func mkdirMode(p string, mode os.FileMode) error {
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Chmod(p, mode)
}

// makeSkeleton creates in dir the /proc and /dev skeleton, files and the
// mount points targets and top; with mknod, the devices are nodes made
// with it, otherwise mount points.
func makeSkeleton(dir string, files map[string][]byte, targets, top []initMount, mknod func(string, uint32, int) error) error {
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"proc", 0o555}, {"dev", 0o755}, {"dev/pts", 0o755}, {"dev/shm", 0o755}} {
		if err := mkdirMode(filepath.Join(dir, d.name), d.mode); err != nil {
			return err
		}
	}
	for _, dev := range devices {
		var err error
		if mknod != nil {
			err = copyDevice("/dev/"+dev, filepath.Join(dir, "dev", dev), mknod)
		} else {
			err = touch(filepath.Join(dir, "dev", dev))
		}
		if err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"dev/fd": "/proc/self/fd", "dev/stdin": "/proc/self/fd/0", "dev/stdout": "/proc/self/fd/1",
		"dev/stderr": "/proc/self/fd/2", "dev/ptmx": "pts/ptmx",
	} {
		p := filepath.Join(dir, name)
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			return err
		}
	}
	for name, data := range files {
		if !filepath.IsAbs(name) {
			return fmt.Errorf("file %s: path must be absolute", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	for _, m := range append(targets, top...) {
		if err := makeTarget(filepath.Join(dir, m.Target), m.Dir); err != nil {
			return err
		}
	}
	return nil
}

// copyDevice makes at dst a device node like the host's src: same
// device number, mode and owner. A /dev/tty the host lacks becomes an
// empty file, as its tolerated bind mount leaves it.
func copyDevice(src, dst string, mknod func(string, uint32, int) error) error {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		if filepath.Base(src) == "tty" {
			return touch(dst)
		}
		if err == nil {
			err = errors.New("not a character device")
		}
		return fmt.Errorf("device %s: %w", src, err)
	}
	os.Remove(dst)
	if err := mknod(dst, unix.S_IFCHR|(st.Mode&0o777), int(st.Rdev)); err != nil {
		return fmt.Errorf("make device %s: %w", dst, err)
	}
	// mknod applies the umask; chmod does not.
	if err := unix.Chmod(dst, st.Mode&0o777); err != nil {
		return err
	}
	return unix.Lchown(dst, int(st.Uid), int(st.Gid))
}

// makeTarget creates the mount point t for a directory or a file, with
// its parent directories.
func makeTarget(t string, dir bool) error {
	mk := func() error {
		if dir {
			return os.Mkdir(t, 0o755)
		}
		return touch(t)
	}
	err := mk()
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(t), 0o755); err == nil {
			err = mk()
		}
	}
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return err
}

func touch(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// Check reports whether this host can create sandboxes, by setting one
// up in a temporary directory (without running a program in it). An
// error matching ErrUnavailable says how to fix the host.
func Check(ctx context.Context, tmpDir string) error {
	root, err := os.MkdirTemp(tmpDir, "cairn-sandbox-check-")
	if err != nil {
		return fmt.Errorf("check sandbox: %w", err)
	}
	defer os.RemoveAll(root)
	p, err := start(ctx, &Spec{Root: root, HostUID: -1, HostGID: -1}, true)
	if err != nil {
		return err
	}
	if err := p.Wait(); err != nil {
		return fmt.Errorf("check sandbox: probe: %w", err)
	}
	return nil
}
